"""What ``cubeproto serve --user alice:alice-pass --user bob:bob-pass`` prints, as Python:
the settings every snippet of these pages starts from.  (The tests run the snippets with the
values of a fresh local server instead: tests/docs/test_snippets.py.)"""

APP_ID = 105
AUTH_KEY = "local-auth-key"
API_URL = "http://127.0.0.1:8080"  # REST
HOST = "127.0.0.1"  # where the chat listens
PORT = 5222  # XMPP with STARTTLS
DOMAIN = "localhost"  # the chat domain
CA_FILE = "/tmp/cubeproto-server-2lp0tkls/ca.pem"  # "CA certificate ..." (yours differs)
ALICE, ALICE_LOGIN, ALICE_PASSWORD = 1, "alice", "alice-pass"
BOB, BOB_LOGIN, BOB_PASSWORD = 2, "bob", "bob-pass"
