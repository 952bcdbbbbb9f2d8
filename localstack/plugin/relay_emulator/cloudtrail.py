"""CloudTrail via moto, with moto's cross-service checks pointed at LocalStack.

moto validates a trail's S3 bucket and SNS topic against *moto's* S3/SNS backends, but in
LocalStack those services have their own providers, so a bucket created through the API is
invisible to moto and CreateTrail fails. We patch the checks to look at LocalStack's S3 store
(SNS topics are not checked). moto also looks some trails up by name only, while AWS (and
Terraform, whose trail id is the ARN) accept a name or an ARN everywhere; those lookups are
patched too. Basic and advanced event selectors replace each other as in AWS. Trails that
are logging record S3 data events: see ``trail_events``.
"""

import logging

LOG = logging.getLogger("relay_emulator.cloudtrail")
_PATCHED = False


def patch_moto() -> None:
    global _PATCHED
    if _PATCHED:
        return
    from moto.cloudtrail.exceptions import S3BucketDoesNotExistException
    from moto.cloudtrail.models import CloudTrailBackend, Trail

    def check_bucket_exists(self) -> None:
        from localstack.services.s3.models import s3_stores

        store = s3_stores[self.account_id][self.region_name]
        if self.bucket_name not in store.global_bucket_map:
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

    original_description = Trail.description

    def description(self, include_region: bool = False) -> dict:
        desc = original_description(self, include_region=include_region)
        desc["HasCustomEventSelectors"] = bool(self.event_selectors or self.advanced_event_selectors)
        return desc

    Trail.description = description
    Trail.check_bucket_exists = check_bucket_exists
    Trail.check_topic_exists = check_topic_exists
    Trail.put_event_selectors = put_event_selectors
    CloudTrailBackend.start_logging = start_logging
    CloudTrailBackend.stop_logging = stop_logging
    CloudTrailBackend.delete_trail = delete_trail
    _PATCHED = True
