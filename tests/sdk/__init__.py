"""Conformance against the official ConnectyCube JavaScript SDK (npm ``connectycube`` 6.1.2),
run in Node as a real peer of our client through the test ejabberd."""
