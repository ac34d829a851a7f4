; Inno Setup script for HistoDesk (Windows installer around the PyInstaller one-folder build).
; Built by packaging\windows\build_windows.ps1, which passes engine.__version__ (the one version number):
;   iscc /DAppVersion=<version> packaging\windows\histodesk.iss
#ifndef AppVersion
  #error Pass the version: iscc /DAppVersion=<engine.__version__> (packaging\windows\build_windows.ps1 does)
#endif

[Setup]
AppId={{6E0F4C2B-6D1A-4B7E-9C55-1C0D6A4F3B21}
AppName=HistoDesk
AppVersion={#AppVersion}
AppPublisher=HistoDesk developers
DefaultDirName={autopf}\HistoDesk
DefaultGroupName=HistoDesk
; Per-user install by default (no admin rights needed); the user may choose all users.
PrivilegesRequired=lowest
PrivilegesRequiredOverridesAllowed=dialog
OutputDir=..\..\build
OutputBaseFilename=HistoDesk-{#AppVersion}-setup
SetupIconFile=..\..\resources\icons\histodesk.ico
UninstallDisplayIcon={app}\histodesk.exe
Compression=lzma2/fast
SolidCompression=no
DiskSpanning=no
ArchitecturesAllowed=x64compatible
ArchitecturesInstallIn64BitMode=x64compatible
WizardStyle=modern

[Tasks]
Name: "desktopicon"; Description: "{cm:CreateDesktopIcon}"; GroupDescription: "{cm:AdditionalIcons}"

[Files]
Source: "..\..\build\dist\histodesk\*"; DestDir: "{app}"; Flags: ignoreversion recursesubdirs createallsubdirs

[Icons]
Name: "{group}\HistoDesk"; Filename: "{app}\histodesk.exe"
Name: "{group}\Uninstall HistoDesk"; Filename: "{uninstallexe}"
Name: "{autodesktop}\HistoDesk"; Filename: "{app}\histodesk.exe"; Tasks: desktopicon

[Run]
Filename: "{app}\histodesk.exe"; Description: "{cm:LaunchProgram,HistoDesk}"; Flags: nowait postinstall skipifsilent
