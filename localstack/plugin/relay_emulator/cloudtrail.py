"""CloudTrail via moto, with moto's cross-service checks pointed at LocalStack.

moto validates a trail's S3 bucket and SNS topic against *moto's* S3/SNS backends, but in
LocalStack those services have their own providers, so a bucket created through the API is
invisible to moto and CreateTrail fails. We patch the checks to look at LocalStack's S3 store
(SNS topics are not checked). moto also looks some trails up by name only, while AWS (and
Terraform, whose trail id is the ARN) accept a name or an ARN everywhere; those lookups are
patched too. Trails are stored and answer like AWS; no events are recorded.
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

    def delete_trail(self, name: str) -> None:
        trail = self.get_trail(name)  # TrailNotFoundException for a missing trail, as in AWS
        del self.trails[trail.trail_name]

    Trail.check_bucket_exists = check_bucket_exists
    Trail.check_topic_exists = check_topic_exists
    CloudTrailBackend.start_logging = start_logging
    CloudTrailBackend.stop_logging = stop_logging
    CloudTrailBackend.delete_trail = delete_trail
    _PATCHED = True
