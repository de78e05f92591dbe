# Empty dependencies file for test_forward.
# This may be replaced when dependencies are built.
