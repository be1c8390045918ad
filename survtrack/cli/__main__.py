from survtrack.cli import app

app()
