from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class OrganizationRole(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    MEMBER: _ClassVar[OrganizationRole]
    ACCOUNTANT: _ClassVar[OrganizationRole]
    OWNER: _ClassVar[OrganizationRole]
MEMBER: OrganizationRole
ACCOUNTANT: OrganizationRole
OWNER: OrganizationRole

class Organization(_message.Message):
    __slots__ = ("id", "name", "description")
    ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    id: str
    name: str
    description: str
    def __init__(self, id: _Optional[str] = ..., name: _Optional[str] = ..., description: _Optional[str] = ...) -> None: ...

class OrganizationMember(_message.Message):
    __slots__ = ("organization", "role", "is_default")
    ORGANIZATION_FIELD_NUMBER: _ClassVar[int]
    ROLE_FIELD_NUMBER: _ClassVar[int]
    IS_DEFAULT_FIELD_NUMBER: _ClassVar[int]
    organization: Organization
    role: OrganizationRole
    is_default: bool
    def __init__(self, organization: _Optional[_Union[Organization, _Mapping]] = ..., role: _Optional[_Union[OrganizationRole, str]] = ..., is_default: _Optional[bool] = ...) -> None: ...

class User(_message.Message):
    __slots__ = ("id", "auth_id", "profile_picture", "email", "organizations", "created_at", "email_verified")
    ID_FIELD_NUMBER: _ClassVar[int]
    AUTH_ID_FIELD_NUMBER: _ClassVar[int]
    PROFILE_PICTURE_FIELD_NUMBER: _ClassVar[int]
    EMAIL_FIELD_NUMBER: _ClassVar[int]
    ORGANIZATIONS_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    EMAIL_VERIFIED_FIELD_NUMBER: _ClassVar[int]
    id: str
    auth_id: str
    profile_picture: str
    email: str
    organizations: _containers.RepeatedCompositeFieldContainer[OrganizationMember]
    created_at: int
    email_verified: bool
    def __init__(self, id: _Optional[str] = ..., auth_id: _Optional[str] = ..., profile_picture: _Optional[str] = ..., email: _Optional[str] = ..., organizations: _Optional[_Iterable[_Union[OrganizationMember, _Mapping]]] = ..., created_at: _Optional[int] = ..., email_verified: _Optional[bool] = ...) -> None: ...

class EmptyRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...
