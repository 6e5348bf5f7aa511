"""Protocol 3, churn: its runbooks (`runbooks`) and the replay (`protocol`)."""
