# Empty dependencies file for moek_objects.
# This may be replaced when dependencies are built.
