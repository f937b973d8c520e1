/*
 * layercheck.c -- a program that does nothing.  core/meson.build links
 * each layer's library into it whole, with only the layers below, so a
 * call from a layer to one above it is an undefined symbol: the build
 * fails instead of the layering eroding by habit.
 */
int main(void)
{
    return 0;
}
