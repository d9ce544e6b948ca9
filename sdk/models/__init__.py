"""Models: the feature schema, consent-aware LightGBM training and the model registry."""

from .registry import Model, ModelRegistry
from .schema import Feature, FeatureSchema

__all__ = ["Feature", "FeatureSchema", "Model", "ModelRegistry"]
