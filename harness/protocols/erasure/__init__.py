"""Protocol 4, erasure: the protocol (`protocol`), its checks (`remanence`, `membership`)
and the verdict (`verdict`)."""
