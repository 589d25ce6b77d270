// Owned by low through low_extra.cpp.
#pragma once
int low_extra();
