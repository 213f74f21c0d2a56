"""The benchmark driver: peers, load, scenarios, report, plots."""
