"""The plugin's pure cores: decisions and record shapes that need no server.

Every module here imports only the standard library (never LocalStack, moto or boto3; ``buildspec``
also PyYAML, which LocalStack's runtime and the test environment both have) and runs on Python
3.11, so ``localstack/tests/test_core_*.py`` test them in milliseconds without an emulator.
The LocalStack-facing modules of the plugin are thin glue around them.
"""
