"""One reverse-diffusion engine and its three uses: unconditional samples, linear inverse problems, self-guided reconstruction; and the distance between conditional densities."""
