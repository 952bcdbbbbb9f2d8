"""CodePipeline for LocalStack: the API Terraform needs, plus real pipeline executions.

moto's CodePipeline backend only stores declarations (no executions, partial round-trip), so
this is a self-contained service:

* ``provider`` - the API handlers (CRUD with exact round-trips and versions, tags, executions,
  state); AWS's JSON error shapes.
* ``models``   - pipelines and executions in a LocalStack store, per account and region; each
  pipeline's lock guards everything the handlers read about its executions.
* ``engine``   - runs an execution on a background thread, stage by stage, actions by
  ``runOrder``, each in its region (input artifacts from other regions copied into that
  region's artifact store first); it changes execution state only under the pipeline's lock.
* ``actions``  - one module per action kind: ``s3_source`` (``Source/AWS/S3``),
  ``connection_source`` (``Source/AWS/CodeStarSourceConnection``, from a local git repository),
  ``codebuild_build`` (``Build/AWS/CodeBuild``, a real build), ``cloudformation``
  (``Deploy/AWS/CloudFormation``, one function per ActionMode) and ``not_emulated`` (any other
  provider: recorded as Succeeded with a summary that says so).
"""
