"""prioscore client library and CLI; talks to the server only through the generated stubs."""
