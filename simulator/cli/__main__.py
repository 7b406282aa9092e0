from simulator.cli import app

app()
