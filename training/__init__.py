"""Fine-tuning, evaluation and calibration of the FAQ matcher's embedding model.

Importable without Flask: the web app calls into it, never the other way round.
"""
