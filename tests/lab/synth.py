"""Made-up runs for the analysis's tests: client tries and bannerd
records built from a few numbers, in the shapes the readers return."""

T0 = 1_800_000_000_000_000  # bannerd's wall clock at the load's time 0


def server(sid, port, accept_us, queue=0, rdns_wait=0, rdns=0, delay=0, write=100,
           banner=True, outcome="normal", hold_after=500, pool=True, ident=None, proxy=None):
    stages = {"queue": queue, "proxy": proxy, "rdns_wait": rdns_wait if pool else None, "rdns": rdns,
              "ident": ident, "delay": delay, "write": write if banner else None}
    ident = ident or 0
    proxy = proxy or 0
    b = queue + proxy + rdns_wait + rdns + ident + delay + write
    t_us = b + hold_after if banner else queue + proxy + rdns_wait + rdns + ident + delay
    return {"sid": sid, "peer": "127.0.0.1:%d" % port, "accept_wall_us": T0 + accept_us,
            "close_wall_us": T0 + accept_us + t_us, "t_us": t_us, "outcome": outcome,
            "state": "CLOSING", "reason": "", "rdns_result": "ok" if rdns else None,
            "client": None, "banner_us": b if banner else None,
            "waited_us": None if banner else t_us, "stages": stages, "has_rdns_wait": pool}


def client(attempt, port, start_us, banner_us, connect_us=100, outcome="ok", code=220, extra_total=200):
    total = connect_us + banner_us + extra_total
    return {"attempt": attempt, "try": 1, "start_us": start_us, "connect_us": connect_us,
            "banner_us": banner_us if outcome == "ok" else 0, "total_us": total,
            "outcome": outcome, "code": code if outcome == "ok" else 0,
            "source": "127.0.0.1:%d" % port}


def pair(i, start_us, path=0, connect_us=100, **stages):
    """A try and its bannerd record; the client connects in connect_us,
    then waits the stages plus path."""
    rec = server(i, 40000 + i, start_us + connect_us, **stages)
    waited = rec["banner_us"] + path
    return client(i, 40000 + i, start_us, waited, connect_us=connect_us), rec


def capacity(workers=4, spw=1, threads=2, pool=True, events=()):
    return {"initial": {"pool.workers": workers, "pool.sessions_per_worker": spw,
                        "rdns.threads": threads if pool else None},
            "events": list(events), "pool_mode": pool}
