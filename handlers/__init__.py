"""The HTTP edge: the route table, BaseHandler, the application context and every request handler."""
