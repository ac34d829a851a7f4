# Build HistoDesk for Windows: PyInstaller one-folder bundle + Inno Setup installer.
# Run from the repository root in PowerShell, with Python 3.11 and Inno Setup 6 (iscc.exe on PATH):
#   py -3.11 -m venv .venv; .venv\Scripts\pip install -r requirements.txt -r packaging\requirements.txt
#   powershell -ExecutionPolicy Bypass -File packaging\windows\build_windows.ps1
# Output: build\dist\histodesk\histodesk.exe and build\HistoDesk-<version>-setup.exe
$ErrorActionPreference = "Stop"
$py = ".venv\Scripts\python.exe"
& $py packaging\tools\render_icon.py        # resources\icons\histodesk.ico from the SVG
& $py -m PyInstaller --noconfirm --clean --workpath build\pyinstaller --distpath build\dist packaging\histodesk.spec
$version = & $py -c "import engine; print(engine.__version__)"
iscc /DAppVersion=$version packaging\windows\histodesk.iss
& build\dist\histodesk\histodesk.exe selftest --screenshot build\selftest.png
Write-Host "installer: build\HistoDesk-$version-setup.exe"
