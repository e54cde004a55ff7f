"""Analyses of a representation: pure functions, arrays in, numbers and arrays out; they never draw."""
