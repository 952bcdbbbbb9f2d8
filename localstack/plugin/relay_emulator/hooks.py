"""LocalStack start-up hook: installs relay's patches into LocalStack's seams.

The open-source core does not load ``localstack.extensions`` plugins, but it runs every plux
plugin in the ``localstack.hooks.on_infra_start`` namespace before serving requests, which is
early enough to patch classes before the S3, EventBridge and CloudFormation providers are
instantiated. Every patch goes through ``localstack.utils.patch``. It also adds the internal
route the git host's hooks report pushes to (``git_repos.pushes``).
"""

import logging

from localstack.runtime.hooks import on_infra_start

LOG = logging.getLogger(__name__)


@on_infra_start(priority=10)
def relay_emulator_install():
    from relay_emulator import timing

    timing.install()  # first (innermost wrappers): stage timers, cProfile; nothing unless turned on (timing.py)
    from relay_emulator import (
        cloudformation,
        ec2_rules,
        events_target,
        kms_replicas,
        network,
        replication,
        secrets_replicas,
        storage,
        trail_events,
        write_guard,
    )
    from relay_emulator.git_repos import pushes

    network.bind_to_listen_host()
    storage.keep_s3_storage_in_own_folder()
    from relay_emulator import faults  # regions down (503), replication delays, /_relay/faults

    faults.install()  # first: its request handler must run before every other custom handler
    replication.install()
    write_guard.install()
    events_target.install()
    trail_events.install()
    cloudformation.install()
    pushes.register()
    secrets_replicas.install()
    ec2_rules.install()
    kms_replicas.install()
    from relay_emulator import cloudfront  # REST router: required query values (CloudFront Tag / Untag)

    cloudfront.install()
    from relay_emulator import elb_frontend, route53_health  # Route 53 health checks, TestDNSAnswer, LB front ends

    route53_health.install()
    elb_frontend.register()
    from relay_emulator import route53_records  # record sets sharing a name: created and deleted one by one

    route53_records.install()
    from relay_emulator import rule_metrics, stack_events  # stack status events; AWS/Events rule metrics

    stack_events.install()
    rule_metrics.install()
    from relay_emulator import stack_tags  # UpdateStack keeps the request's stack tags (release order)

    stack_tags.install()
    from relay_emulator import config_service  # AWS Config: a delivery channel's bucket must exist

    config_service.install()
    LOG.info(
        "relay emulator plugin installed (S3 replication, bucket policy Deny statements, CodePipeline event "
        "target, CloudTrail data events, CloudFormation unsupported-type guard, git push route, EC2 rule descriptions, "
        "KMS replica policy and tags)"
    )
