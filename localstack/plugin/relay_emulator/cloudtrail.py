"""CloudTrail via moto, with moto's cross-service checks pointed at LocalStack.

Emulated: trails (moto's backend) and, for logging trails, S3 data events (``trail_events``).
moto validates a trail's S3 bucket and SNS topic against *moto's* S3/SNS backends, but in
LocalStack those services have their own providers, so a bucket created through the API is
invisible to moto and CreateTrail fails. The patches below make the bucket check look at
LocalStack's S3 store; moto also looks some trails up by name only, while AWS (and Terraform,
whose trail id is the ARN) accept a name or an ARN everywhere; basic and advanced event
selectors replace each other as in AWS.

Not emulated: SNS topics of a trail are not checked (LocalStack's SNS is not moto's).
"""

from __future__ import annotations

import logging

from localstack.utils.patch import Patches

LOG = logging.getLogger("relay_emulator.cloudtrail")
PATCHES = Patches()


def patch_moto() -> None:
    """Apply the patches to moto's CloudTrail models (idempotent)."""
    if PATCHES.patches:
        return
    from moto.cloudtrail.exceptions import S3BucketDoesNotExistException
    from moto.cloudtrail.models import CloudTrailBackend, Trail

    from relay_emulator.common import bucket_location

    def check_bucket_exists(self) -> None:
        if bucket_location(self.bucket_name)[0] is None:
            raise S3BucketDoesNotExistException(f"S3 bucket {self.bucket_name} does not exist!")

    def check_topic_exists(self) -> None:
        return None

    def start_logging(self, name: str) -> None:
        self.get_trail(name).start_logging()

    def stop_logging(self, name: str) -> None:
        self.get_trail(name).stop_logging()

    def put_event_selectors(self, event_selectors, advanced_event_selectors) -> None:
        # basic and advanced selectors replace each other (moto kept stale advanced ones)
        if advanced_event_selectors:
            self.event_selectors, self.advanced_event_selectors = [], advanced_event_selectors
        else:
            self.event_selectors, self.advanced_event_selectors = event_selectors or [], []

    def delete_trail(self, name: str) -> None:
        trail = self.get_trail(name)  # TrailNotFoundException for a missing trail, as in AWS
        del self.trails[trail.trail_name]

    def description(original, self, include_region: bool = False) -> dict:
        desc = original(self, include_region=include_region)
        desc["HasCustomEventSelectors"] = bool(self.event_selectors or self.advanced_event_selectors)
        return desc

    PATCHES.function(Trail.description, description)
    PATCHES.function(Trail.check_bucket_exists, check_bucket_exists, pass_target=False)
    PATCHES.function(Trail.check_topic_exists, check_topic_exists, pass_target=False)
    PATCHES.function(Trail.put_event_selectors, put_event_selectors, pass_target=False)
    PATCHES.function(CloudTrailBackend.start_logging, start_logging, pass_target=False)
    PATCHES.function(CloudTrailBackend.stop_logging, stop_logging, pass_target=False)
    PATCHES.function(CloudTrailBackend.delete_trail, delete_trail, pass_target=False)
    PATCHES.apply()
    LOG.debug("moto CloudTrail patched for LocalStack")
