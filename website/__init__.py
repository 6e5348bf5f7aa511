"""The results site's templates (`templates/`) and static files (`static/`): data, no code.

`harness.report.site` finds them through this package, in a checkout and when installed."""
