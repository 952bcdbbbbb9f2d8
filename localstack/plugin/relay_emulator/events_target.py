"""EventBridge -> CodePipeline target delivery.

LocalStack's EventBridge has no CodePipeline target (``Unsupported target for Service``).
AWS delivers such a target by assuming the target's ``RoleArn`` (as events.amazonaws.com)
and calling ``codepipeline:StartPipelineExecution``. We register a sender that does the
same through LocalStack's internal client: the base class already assumes the RoleArn and
tags the request with the rule ARN as source, which the CodePipeline provider records as
trigger ``CloudWatchEvent`` with the rule ARN as detail. The sender is registered through
LocalStack's own ``TargetSenderFactory.register_target_sender`` (no patch needed).
"""

import logging

LOG = logging.getLogger("relay_emulator.events_target")


def install() -> None:
    """Register the CodePipeline target sender with LocalStack's EventBridge."""
    from localstack.services.events.target import TargetSender, TargetSenderFactory

    class CodePipelineTargetSender(TargetSender):
        """Starts the target pipeline (ARN arn:aws:codepipeline:<region>:<account>:<name>)."""

        def send_event(self, event, trace_header):
            name = self.target["Arn"].split(":", 5)[5]
            result = self.client.start_pipeline_execution(name=name)
            LOG.info(
                "rule %s started pipeline %s (execution %s)",
                self.rule_arn,
                name,
                result.get("pipelineExecutionId"),
            )

        def _validate_input(self, target):
            super()._validate_input(target)
            # AWS rejects CodePipeline targets without a role to start the pipeline with.
            if not target.get("RoleArn"):
                from localstack.services.events.models import ValidationException

                raise ValidationException(f"RoleArn is required for target arn: {target['Arn']}.")

        def _initialize_client(self):
            # The pipeline lives in the target ARN's region (same as the bus for same-region targets).
            region, self.region = self.region, self.target_region or self.region
            try:
                return super()._initialize_client()
            finally:
                self.region = region

    TargetSenderFactory.register_target_sender("codepipeline", CodePipelineTargetSender)
    LOG.info("relay EventBridge CodePipeline target installed")
