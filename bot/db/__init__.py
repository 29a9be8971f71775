"""Database: models, engine and the session store."""
