"""Keep LocalStack's S3 object bodies in this emulator's own folder.

LocalStack 4.14's S3 provider spools object bodies to a fixed ``/tmp/localstack-s3-storage``
(``DEFAULT_S3_TMP_DIR`` in ``localstack/services/s3/provider.py``), whatever its configured
folders, so two emulators on one machine would share (and delete) each other's files there.
The start-up hook runs before the S3 provider is created; it points that directory into
LocalStack's own temporary folder (``config.dirs.tmp``, which the launcher roots under the
emulator's state dir).
"""

from __future__ import annotations

import logging
import os

from localstack.utils.patch import Patch

LOG = logging.getLogger("relay_emulator.storage")


def keep_s3_storage_in_own_folder() -> Patch:
    """Patch the S3 provider module's storage directory to ``<LocalStack tmp>/s3-storage``."""
    from localstack.services.s3 import provider as s3_provider_module

    from localstack import config

    directory = os.path.join(config.dirs.tmp, "s3-storage")
    patch = Patch(s3_provider_module, "DEFAULT_S3_TMP_DIR", directory)
    patch.apply()
    LOG.debug("S3 object bodies spool to %s", directory)
    return patch
