"""LocalStack service plugins (entry points in ``localstack.aws.provider``).

LocalStack's ``MotoFallbackDispatcher`` relies on generated API classes that mark every
operation; the open-source core has none for these services, so we build the dispatch table
ourselves: the provider's own ``@handler`` methods first, every other operation of the
botocore spec forwarded to moto (where moto implements the service).
"""

from localstack.services.plugins import Service, aws_provider


def _moto_fallback_table(provider, with_moto: bool = True, after_write=None):
    from localstack.aws.skeleton import create_dispatch_table
    from localstack.aws.spec import load_service

    table = create_dispatch_table(provider)
    if with_moto:
        from localstack.services.moto import call_moto

        def forward(context, request):
            response = call_moto(context)
            if after_write is not None and not context.operation.name.startswith(_READ_PREFIXES):
                after_write()
            return response

        for operation in load_service(provider.service).operation_names:
            table.setdefault(operation, forward)
    return table


_READ_PREFIXES = ("Describe", "Get", "List", "Lookup")


class _MotoOnly:
    """A provider with no handlers of its own: every operation goes to moto."""

    def __init__(self, service: str, version: str):
        self.service = service
        self.version = version


@aws_provider(api="codepipeline")
def codepipeline():
    from relay_emulator.codepipeline.provider import CodePipelineProvider

    provider = CodePipelineProvider()
    # Executions and exact round-trips live in our provider; moto's store would diverge,
    # so there is no moto fallback here (unimplemented operations answer NotImplemented).
    return Service.for_provider(provider, dispatch_table_factory=lambda p: _moto_fallback_table(p, False))


@aws_provider(api="codebuild")
def codebuild():
    from relay_emulator.codebuild import CodeBuildProvider

    # moto's CodeBuild lacks UpdateProject and drops fields; projects live in our provider.
    provider = CodeBuildProvider()
    return Service.for_provider(provider, dispatch_table_factory=lambda p: _moto_fallback_table(p, False))


@aws_provider(api="cloudtrail")
def cloudtrail():
    from relay_emulator import trail_events
    from relay_emulator.cloudtrail import patch_moto

    patch_moto()
    provider = _MotoOnly("cloudtrail", "2013-11-01")
    # every write (create/update/delete, start/stop logging, selectors) re-reads the logging
    # trails that S3 data events are matched against
    return Service.for_provider(
        provider, dispatch_table_factory=lambda p: _moto_fallback_table(p, after_write=trail_events.refresh)
    )


@aws_provider(api="codestar-connections")
def codestar_connections():
    from relay_emulator.connections import CodeStarConnectionsProvider

    provider = CodeStarConnectionsProvider()
    return Service.for_provider(provider, dispatch_table_factory=lambda p: _moto_fallback_table(p, False))


@aws_provider(api="codeconnections")
def codeconnections():
    from relay_emulator.connections import CodeConnectionsProvider

    provider = CodeConnectionsProvider()
    return Service.for_provider(provider, dispatch_table_factory=lambda p: _moto_fallback_table(p, False))


@aws_provider(api="ecr")
def ecr():
    from relay_emulator.ecr import ECRProvider

    # not in LocalStack's community edition: moto's ECR, with PutImage, CreateRepository and
    # PutReplicationConfiguration, DescribeImageReplicationStatus of our own (digests, immutable
    # tags, registry replication: ecr.py)
    provider = ECRProvider()
    return Service.for_provider(provider, dispatch_table_factory=_moto_fallback_table)


@aws_provider(api="dynamodb", name="relay")
def dynamodb():
    from relay_emulator.dynamodb import DynamoDBProvider, dispatch_table

    # LocalStack's community DynamoDB downloads DynamoDB Local and Java at first use (impossible
    # offline); the launcher selects this one with PROVIDER_OVERRIDE_DYNAMODB=relay: moto's
    # DynamoDB plus global tables 2019.11.21 and their item replication (dynamodb.py)
    return Service.for_provider(DynamoDBProvider(), dispatch_table_factory=dispatch_table)


@aws_provider(api="dynamodbstreams", name="relay")
def dynamodbstreams():
    # moto's DynamoDB Streams reads the stream records of moto's tables, those of the DynamoDB above
    # (replicated writes included, as in AWS); selected with PROVIDER_OVERRIDE_DYNAMODBSTREAMS=relay
    from relay_emulator.dynamodb import streams_dispatch_table

    provider = _MotoOnly("dynamodbstreams", "2012-08-10")
    return Service.for_provider(provider, dispatch_table_factory=streams_dispatch_table)


@aws_provider(api="elbv2")
def elbv2():
    from relay_emulator import elbv2 as relay_elbv2

    # not in LocalStack's community edition: moto's ELBv2, instances of a terminated (scaled-in)
    # Auto Scaling group deregistered from its target groups, terminated instances never healthy (elbv2.py)
    relay_elbv2.install()
    return Service.for_provider(_MotoOnly("elbv2", "2015-12-01"), dispatch_table_factory=_moto_fallback_table)


@aws_provider(api="autoscaling")
def autoscaling():
    from relay_emulator import elbv2 as relay_elbv2

    # not in LocalStack's community edition: moto's Auto Scaling (instances in moto's EC2, which
    # LocalStack serves, registered in moto's ELBv2 target groups; patches in elbv2.py)
    relay_elbv2.install()
    return Service.for_provider(_MotoOnly("autoscaling", "2011-01-01"), dispatch_table_factory=_moto_fallback_table)


@aws_provider(api="cloudfront")
def cloudfront():
    from relay_emulator.cloudfront import CloudFrontProvider

    # not in LocalStack's community edition; moto drops origin groups, policies and more:
    # distributions, their tags and invalidations, and AWS's managed policies are ours
    # (cloudfront.py); origin access controls, public keys and key groups go to moto
    return Service.for_provider(CloudFrontProvider(), dispatch_table_factory=_moto_fallback_table)


@aws_provider(api="securityhub")
def securityhub():
    from relay_emulator.securityhub import SecurityHubProvider

    # not in LocalStack's community edition; moto's backend lacks standards and aggregators: the hub,
    # standards, the cross-region finding aggregator and findings are ours (securityhub.py), no moto
    # fallback (other operations answer NotImplemented)
    return Service.for_provider(SecurityHubProvider(), dispatch_table_factory=lambda p: _moto_fallback_table(p, False))
