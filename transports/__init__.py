"""I/O adapters for the sans-IO core, importable as ``cubeproto.transports``.

Everything that touches the world (sockets, TLS, clocks, threads, event loops) lives here;
nothing under ``cubeproto`` proper does.
"""
