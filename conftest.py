"""Root conftest: plugins every test run loads, wherever pytest is started from."""

# Under CI=true a skip not on tests/allowed_skips.txt fails the run (tests/skip_guard.py);
# pytester runs that guard in tests/test_skip_guard.py.
pytest_plugins = ["tests.skip_guard", "pytester"]

import os  # noqa: E402

from cryptography.fernet import Fernet  # noqa: E402

# TOTP secrets are encrypted at rest with a key outside the database (trialdesk.store.sealed):
# every test run gets a key of its own, inherited by the servers the tests start.
os.environ.setdefault("TRIALDESK_TOTP_KEY", Fernet.generate_key().decode("ascii"))
