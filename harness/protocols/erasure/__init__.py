"""Protocol 4, erasure (`protocol`): the plugin's host process (`host`, `hosted`), the
reference data (`reference`), the probes (`probing`), the checks (`filescan` over
`decoding` and `patterns`, `reconstruction` over `candidates`, `differential`, `sidefiles`,
`memory`, `attack`), their evidence (`evidence`) and the verdict (`verdict`)."""
