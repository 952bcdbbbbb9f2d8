"""AWS Config (LocalStack community serves moto's backend): a delivery channel naming an S3 bucket
that does not exist fails with ``NoSuchBucketException``, as in AWS (moto only refuses an empty
name). Recorders, delivery channels, recorder status and managed rules are moto's otherwise; rules
are stored, never evaluated (no compliance results)."""

from __future__ import annotations

import logging

from localstack.utils.patch import Patch

LOG = logging.getLogger("relay_emulator.config_service")
_INSTALLED = False


def install() -> None:
    """Patch moto's ``ConfigBackend.put_delivery_channel`` (class level, once)."""
    global _INSTALLED
    if _INSTALLED:
        return
    from moto.config.exceptions import JsonRESTError
    from moto.config.models import ConfigBackend

    from relay_emulator.common import bucket_location

    class NoSuchBucket(JsonRESTError):
        code = 400

        def __init__(self, bucket: str) -> None:
            super().__init__("NoSuchBucketException", f"Cannot find a S3 bucket with name {bucket}.")

    def put_delivery_channel(original, self, delivery_channel):
        bucket = delivery_channel.get("s3BucketName")
        # moto's own checks first (recorder present, empty name), as AWS orders them
        if self.recorders and bucket and bucket_location(bucket)[0] is None:
            raise NoSuchBucket(bucket)
        return original(self, delivery_channel)

    Patch.function(ConfigBackend.put_delivery_channel, put_delivery_channel).apply()
    _INSTALLED = True
    LOG.info("relay AWS Config delivery channel bucket check installed")
