from survtrack.cli import app

if __name__ == "__main__":  # a spawned worker process imports this module again
    app()
