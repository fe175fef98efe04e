"""`axtui drill`: rehearse an incident against simulated upstreams and report how the
gateway took it (orchestrate: the processes; load: the client; report: the figures)."""
