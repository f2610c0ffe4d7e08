"""Training utilities shared by every trainer in lgfa-lite."""

from .state import TrainingState, load_training_state, save_training_state
