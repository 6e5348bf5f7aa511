"""Reports of the results: console tables (`console`), static figures (`figures`) and the
website (`site`, with its pages in `pages`, plotly charts in `charts`). `data` is the layer
they share: which runs to show, Pareto fronts, parameter labels, scorecard rows."""
