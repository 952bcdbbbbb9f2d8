"""relay's LocalStack plugin.

Adds to the open-source LocalStack core what relay's cross-region delivery pipeline needs:

* ``replication``   - an S3 replication engine (LocalStack only stores the configuration);
* ``codepipeline``  - a CodePipeline API with real executions (S3 source, CloudFormation deploy);
* ``events_target`` - EventBridge delivery to CodePipeline targets;
* ``connections``   - a CodeStar Connections / CodeConnections API (not in moto);
* ``codebuild``     - CodeBuild projects as Terraform declares them (moto's lack UpdateProject);
* ``cloudtrail``    - moto's CloudTrail with its bucket check pointed at LocalStack's S3;
* ``trail_events``  - S3 data events of logging trails: EventBridge events and log files;
* ``network``       - makes the gateway bind to the host in GATEWAY_LISTEN (127.0.0.1);
* ``providers``     - LocalStack service plugins (entry points) for the services above;
* ``hooks``         - the ``on_infra_start`` hook that patches LocalStack's seams.

This package is installed into LocalStack's own venv; it is never imported by relay itself.
"""

__version__ = "0.1.0"
