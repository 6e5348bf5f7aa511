"""Reports of the results: console tables (`console`), static figures (`figures`) and the
website (`site`, with its pages in `pages`, plotly charts in `charts`). `data` is the layer
they share: which runs to show, Pareto fronts, parameter labels and order, scorecard rows,
nightly evidence; `style` gives each algorithm one look in figures and charts alike;
`screenshots` photographs a built site in headless Chromium."""
