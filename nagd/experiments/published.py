"""The paper's published numbers, as data (D. Sprunger, "Reparametrizing gradient descent", 2020)."""
