"""Protocol 3, churn: runbooks (`runbooks`, from `bigann` files or `generators`), their
replay on a plugin (`replay`) and the protocol's entry points (`protocol`)."""
