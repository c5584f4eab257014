"""What an object is: its pages, the levels of each page, and where stored tiles lie.

One module per family: `tiff` (the TIFF structure, parsed once by ranges, used both to
pick levels and to pass stored tiles through), `jpeg` (JPEG streams as TIFF stores them),
`levels` (which stored images are the levels of a page, for every family), `ome` (an
OME-TIFF's channels, from its OME-XML), `vendors` (which scanner's layout a slide follows:
Aperio, Philips, Leica, Ventana, Hamamatsu, DICOM), `dicom` (a DICOM WSI instance's frames,
shown to libvips as a TIFF's tiles), `gdal_metadata`, `stored`. Pixels are
decoded by libvips (imaging/); nothing here decodes.
"""
