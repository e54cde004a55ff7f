"""Figures drawn from arrays that the analyses computed and saved; nothing here computes."""
