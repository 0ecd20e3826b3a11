"""Local web pages of a terminal: a threaded server and server-sent pushes."""
