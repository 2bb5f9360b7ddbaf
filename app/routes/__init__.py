"""HTTP routes: one blueprint module per way in."""
