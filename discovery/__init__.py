"""Discover and assess: list the EC2 instances to migrate, judge their readiness, right-size them, draft the request.

Entry point: :func:`discovery.command.run_discover` with :class:`discovery.options.DiscoverOptions`.
"""
