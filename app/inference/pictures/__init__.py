"""Pictures -> the model's input: header checks, budgets, decoding, the digit placed as MNIST."""
