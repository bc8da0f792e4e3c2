"""How the hub routes what clients send, one concern per module.

The hub (:mod:`..hub`) holds the state -- sessions, rooms, watchers, sessions awaiting
resumption -- and delivery; these modules are functions of the hub and a stanza:

==============  =====================================================================
``messages``    1-1 and group messages, carbons, history (save, markers, edits, deletes)
``presence``    available/unavailable broadcasts, directed presence
``rooms``       dialogs as MUC rooms: join, leave, broadcast to members
``iqs``         carbons, privacy, mobile and status switches, last activity, disco
``privacy``     privacy lists: the IQ, and the rules for messages and presence
``pushes``      what REST calls send over chat (reactions, removals, messages, system)
``stanzas``     namespaces and stanza helpers
==============  =====================================================================
"""
