"""The methods, one module each, all with one shape: a config dataclass (`LGFAConfig`, ...),
`train(config) -> (pipeline, history)`, `load(name=WEIGHTS) -> pipeline` (`pipe(face, ...)`), and the
command line `python -m lgfa_lite.methods.<method> train --minutes N --opts KEY VAL ...`. Each
training recipe lives in `lgfa_lite.train.<method>` and only `train` imports it."""
