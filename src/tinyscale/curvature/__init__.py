"""The curvature study: data, training and loss-surface curvature measurements."""
