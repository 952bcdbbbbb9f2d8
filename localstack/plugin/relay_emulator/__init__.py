"""relay's LocalStack plugin.

Adds to the open-source LocalStack core what relay's cross-region delivery pipeline needs:

* ``replication``    - an S3 replication engine (LocalStack only stores the configuration);
  ``replica_write`` - its in-process replica writes (storage-level body copy);
* ``write_guard``    - explicit Deny statements of S3 bucket policies enforced on object writes
  (a documented subset of IAM evaluation; LocalStack evaluates no policy);
* ``codepipeline``   - a CodePipeline API with real executions (provider / engine / one module
  per action kind: S3 source, connection source on local git, CodeBuild, CloudFormation deploy,
  "not emulated");
* ``events_target``  - EventBridge delivery to CodePipeline targets;
* ``pipeline_events``, ``stack_events``, ``service_events`` - CodePipeline and CloudFormation
  state-change events on the region's default bus; ``rule_metrics`` - ``AWS/Events`` rule metrics;
* ``connections``    - a CodeStar Connections / CodeConnections API (not in moto);
* ``codebuild``      - CodeBuild projects as Terraform declares them, and builds that run the
  buildspec as local processes (no container);
* ``git_repos``      - the git host: local bare repositories behind connections, their push hook,
  the route pushes start pipelines through;
* ``cloudtrail``     - moto's CloudTrail with its bucket check pointed at LocalStack's S3;
* ``trail_events``   - S3 data events of logging trails: EventBridge events and log files;
* ``cloudformation`` - stacks with a resource type LocalStack cannot create fail, naming it;
* ``ecr``            - ECR (not in the community edition): moto's, with ECR's digests, immutable
  tags and registry replication of images into every destination region;
* ``dynamodb``       - DynamoDB and DynamoDB Streams from moto (LocalStack's downloads DynamoDB
  Local), with global tables 2019.11.21 and last-writer-wins item replication;
* ``ec2_rules``      - security group rules that reference a group keep their description;
* ``kms_replicas``   - Multi-Region replica keys keep their ReplicateKey request's policy and tags;
* ``faults``         - fault injection: regions down (503 ``ServiceUnavailable``), replication
  delays, deliveries held for a down region, the ``/_relay/faults`` control API;
* ``network``        - makes the gateway bind to the host in GATEWAY_LISTEN (127.0.0.1);
* ``storage``        - keeps S3 object bodies in the emulator's own folder, not a fixed /tmp path;
* ``persistence``    - restarts lose nothing: every service's state saved at stop and in the background,
  a journal of S3 object writes for ``kill -9``, restore at start-up, ``/_relay/persistence``;
* ``providers``      - LocalStack service plugins (entry points) for the services above;
* ``hooks``          - the ``on_infra_start`` hook that patches LocalStack's seams;
* ``common``         - errors, clock, internal clients, tags, the bounded wait (shared);
* ``core``           - the pure cores (no LocalStack import): replication rules, bucket policy
  Deny statements, CloudTrail selectors and records, pipeline declarations, CloudFormation deploy decisions, buildspecs,
  git push triggers.

State lives in LocalStack stores (per account and region); patches go through
``localstack.utils.patch``. This package is installed into LocalStack's own venv; relay
itself never imports it (its suite imports ``core`` alone).
"""

__version__ = "0.1.0"
